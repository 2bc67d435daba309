import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { BASE_IMAGES, type CatalogImage } from '../../domain/images/catalog.ts';
import { listPage } from './listing.ts';
import type { BatchRequestContext } from './surface.ts';

/** BatchService.json ImageInformation */
function imageToWire(i: CatalogImage) {
  return {
    nodeAgentSKUId: i.nodeAgentSkuId,
    imageReference: { publisher: i.publisher, offer: i.offer, sku: i.sku, version: i.version },
    osType: i.osType,
    capabilities: i.capabilities,
    ...(i.batchSupportEndOfLife === undefined ? {} : { batchSupportEndOfLife: i.batchSupportEndOfLife }),
    verificationType: i.verificationType,
  };
}

function contextOf(request: FastifyRequest): BatchRequestContext {
  if (!request.batch)
    throw new DomainError('unauthenticated', 'AuthenticationFailed', 'The request was not authenticated.');
  return request.batch;
}

/** Account-level operations: supported images and pool node counts. */
export function registerAccountRoutes(app: FastifyInstance): void {
  app.get('/supportedimages', (request) => {
    const ctx = contextOf(request);
    const entries = BASE_IMAGES.map(imageToWire).map((wire, i) => ({
      key: String(i).padStart(6, '0'),
      wire,
    }));
    return listPage(request, ctx, {
      entries,
      metadata: 'supportedimages',
      maxResults: 1000,
      filterSchema: { osType: 'enum', verificationType: 'enum', nodeAgentSKUId: 'enum' },
    });
  });

  app.get('/nodecounts', (request) => {
    const ctx = contextOf(request);
    // Pools arrive with the pools issue; until then an account has none, so there is nothing to count.
    return listPage(request, ctx, {
      entries: [],
      metadata: 'poolnodecounts',
      maxResults: 10,
      filterSchema: { poolId: 'enum' },
    });
  });
}
