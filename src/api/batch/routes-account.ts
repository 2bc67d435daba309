import type { FastifyInstance } from 'fastify';
import { BASE_IMAGES, type CatalogImage } from '../../domain/images/catalog.ts';
import { listPage } from './listing.ts';
import { contextOf } from './request.ts';

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

/** Account-level operations: supported images. */
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
}
