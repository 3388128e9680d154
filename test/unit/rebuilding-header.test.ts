import 'reflect-metadata';
import Fastify from 'fastify';
import { FASTIFY_ROUTE_CONFIG_METADATA } from '@nestjs/platform-fastify/constants';
import { GuildStatesController } from '../../src/guild-states/guild-states.controller';
import { HarmonyUserInfoController } from '../../src/guild-states/harmony-user-info.controller';
import { isMarkedWhileRebuilding, rebuildingHeader } from '../../src/http/rebuilding-header';

/**
 * Query answers given while the state is being rebuilt say so (X-State-Rebuilding: true): every
 * query handler is declared for it, and the Fastify hook sets the header on exactly those routes,
 * only while a rebuild runs. (The whole rebuild is in test/faults/self-healing.test.ts.)
 */
describe('X-State-Rebuilding', () => {
  it('is declared on every query route: both GuildStates routes and both original routes', () => {
    const handlers = [
      GuildStatesController.prototype.get,
      GuildStatesController.prototype.query,
      HarmonyUserInfoController.prototype.community,
      HarmonyUserInfoController.prototype.direct,
    ];
    for (const handler of handlers) {
      expect(isMarkedWhileRebuilding(Reflect.getMetadata(FASTIFY_ROUTE_CONFIG_METADATA, handler))).toBe(true);
    }
  });

  it('is set on marked routes while rebuilding, and nowhere else', async () => {
    const rebuild = { rebuilding: false };
    const app = Fastify();
    app.addHook('onRoute', rebuildingHeader(rebuild));
    app.get('/marked', { config: { markedWhileRebuilding: true } }, async () => ({ ok: true }));
    app.get('/failing', { config: { markedWhileRebuilding: true } }, async () => {
      throw Object.assign(new Error('Redis unreachable'), { statusCode: 503 });
    });
    app.get('/plain', async () => ({ ok: true }));
    await app.ready();
    const header = async (url: string) => (await app.inject({ url })).headers['x-state-rebuilding'];
    try {
      expect(await header('/marked')).toBeUndefined();
      rebuild.rebuilding = true;
      expect(await header('/marked')).toBe('true');
      expect(await header('/failing')).toBe('true');
      expect(await header('/plain')).toBeUndefined();
      rebuild.rebuilding = false;
      expect(await header('/marked')).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});
