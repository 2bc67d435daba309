import { invalidInput } from './errors.ts';

/** Regions this server knows, with Azure's display names. Lower-case, space-free names are canonical. */
export const REGIONS: Readonly<Record<string, string>> = {
  westeurope: 'West Europe',
  northeurope: 'North Europe',
  swedencentral: 'Sweden Central',
  germanywestcentral: 'Germany West Central',
  eastus: 'East US',
  westus: 'West US',
  westus2: 'West US 2',
  southcentralus: 'South Central US',
};

/** "West US" and "westus" name the same region. */
export function normalizeLocation(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

/** Canonical region name, or an `InvalidLocation`-style error naming the field. */
export function requireKnownLocation(location: unknown, field = 'location'): string {
  if (typeof location !== 'string' || location.trim() === '') {
    throw invalidInput('LocationRequired', `The location property is required for this definition.`, field);
  }
  const name = normalizeLocation(location);
  if (!(name in REGIONS)) {
    throw invalidInput(
      'LocationNotAvailableForResourceType',
      `The provided location '${location}' is not available. List of available regions is '${Object.keys(REGIONS).join(',')}'.`,
      field,
    );
  }
  return name;
}
