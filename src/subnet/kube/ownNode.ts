import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { Backoff } from '../../util/backoff.js';
import type { LeaseAttrs } from '../lease.js';
import type { ManagerLifecycle } from '../lifecycle.js';
import type { NodeAnnotationKeys } from './annotations.js';
import { type NodeApi, isConflict } from './nodeApi.js';
import { annotationChanges, desiredAnnotations } from './nodeLease.js';

const MAX_PATCH_ATTEMPTS = 50;

export interface OwnNodeOptions {
  readonly api: NodeApi;
  readonly nodeName: string;
  readonly keys: NodeAnnotationKeys;
  readonly logger: Logger;
  readonly lifecycle: ManagerLifecycle;
  readonly reportError: (what: string, err: unknown) => void;
}

/**
 * This node's Node object, as both phases of the Kubernetes datastore read and write it: reads
 * that wait out an unreachable API server, and annotation patches that retry on a 409.
 */
export class OwnNode {
  constructor(readonly options: OwnNodeOptions) {}

  get name(): string {
    return this.options.nodeName;
  }

  async read(): Promise<V1Node> {
    const { api, lifecycle, logger } = this.options;
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      lifecycle.throwIfClosed();
      try {
        const node = await api.get(this.name);
        lifecycle.touch();
        if (node) return node;
        logger.info('waiting for this node to be registered', { node: this.name });
      } catch (err) {
        this.options.reportError('reading this node', err);
      }
      await lifecycle.pause(backoff.next());
    }
  }

  async listAll(): Promise<V1Node[]> {
    const { api, lifecycle } = this.options;
    const backoff = new Backoff(500, 10_000);
    for (;;) {
      lifecycle.throwIfClosed();
      try {
        const listing = await api.list();
        lifecycle.touch();
        return listing.items;
      } catch (err) {
        this.options.reportError('listing nodes', err);
      }
      await lifecycle.pause(backoff.next());
    }
  }

  /** Publishes this node's annotations when they differ; a 409 means a newer node: read it and retry. */
  async publish(node: V1Node, attrs: LeaseAttrs, extra: Record<string, string> = {}): Promise<V1Node> {
    const { api, keys, lifecycle, logger } = this.options;
    let current = node;
    for (let attempt = 1; ; attempt++) {
      const changes = annotationChanges(current, { ...desiredAnnotations(current, keys, attrs), ...extra });
      if (!changes) return current;
      try {
        const updated = await api.patchAnnotations(this.name, changes, current.metadata?.resourceVersion);
        lifecycle.touch();
        logger.info('published node annotations', { node: this.name, annotations: Object.keys(changes) });
        return updated;
      } catch (err) {
        if (!isConflict(err) || attempt >= MAX_PATCH_ATTEMPTS) throw err;
        logger.debug('node changed under our patch (409); retrying on a fresh read', { node: this.name });
        current = await this.read();
      }
    }
  }
}
