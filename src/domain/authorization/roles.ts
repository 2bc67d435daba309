/** Azure's built-in role definitions we serve. GUIDs are the same in every tenant. */
export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleDefinition {
  /** GUID. */
  name: string;
  roleName: string;
  description: string;
  type: 'BuiltInRole' | 'CustomRole';
  permissions: Permission[];
  assignableScopes: string[];
}

const builtIn = (name: string, roleName: string, description: string, permission: Partial<Permission>) =>
  ({
    name,
    roleName,
    description,
    type: 'BuiltInRole',
    permissions: [{ actions: [], notActions: [], dataActions: [], notDataActions: [], ...permission }],
    assignableScopes: ['/'],
  }) satisfies RoleDefinition;

export const OWNER_ROLE_ID = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
export const CONTRIBUTOR_ROLE_ID = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
export const READER_ROLE_ID = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
export const USER_ACCESS_ADMINISTRATOR_ROLE_ID = '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9';

export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  builtIn(
    OWNER_ROLE_ID,
    'Owner',
    'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.',
    {
      actions: ['*'],
    },
  ),
  builtIn(
    CONTRIBUTOR_ROLE_ID,
    'Contributor',
    'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.',
    {
      actions: ['*'],
      notActions: [
        'Microsoft.Authorization/*/Delete',
        'Microsoft.Authorization/*/Write',
        'Microsoft.Authorization/elevateAccess/Action',
        'Microsoft.Blueprint/blueprintAssignments/write',
        'Microsoft.Blueprint/blueprintAssignments/delete',
        'Microsoft.Compute/galleries/share/action',
        'Microsoft.Purview/consents/write',
        'Microsoft.Purview/consents/delete',
      ],
    },
  ),
  builtIn(READER_ROLE_ID, 'Reader', 'View all resources, but does not allow you to make any changes.', {
    actions: ['*/read'],
  }),
  builtIn(
    USER_ACCESS_ADMINISTRATOR_ROLE_ID,
    'User Access Administrator',
    'Lets you manage user access to Azure resources.',
    { actions: ['*/read', 'Microsoft.Authorization/*', 'Microsoft.Support/*'] },
  ),
];

export function findBuiltInRole(name: string): RoleDefinition | undefined {
  const key = name.toLowerCase();
  return BUILT_IN_ROLES.find((r) => r.name === key);
}

/** The GUID at the end of a role definition id, in either the tenant or the subscription form. */
export function roleDefinitionGuid(roleDefinitionId: string): string | undefined {
  const m = /(?:^|\/)providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})\/?$/i.exec(
    roleDefinitionId.trim(),
  );
  return m?.[1]?.toLowerCase();
}

/** Azure action patterns: `*` matches any run of characters; comparison ignores case. */
export function actionMatches(pattern: string, action: string): boolean {
  const escaped = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${escaped}$`, 'i').test(action);
}

/** Whether one role grants `action` (a control-plane action, or with `data` a data action). */
export function roleGrants(role: RoleDefinition, action: string, data = false): boolean {
  return role.permissions.some((p) => {
    const allow = data ? p.dataActions : p.actions;
    const deny = data ? p.notDataActions : p.notActions;
    return allow.some((a) => actionMatches(a, action)) && !deny.some((a) => actionMatches(a, action));
  });
}
