import { byId, ChannelEventModel, PresenceModel } from '../../testkit/presence-model';

export { PresenceModel };
export type { ChannelEventModel };

/** The model's channels with members sorted (the order of sitting down is not part of the registers). */
export function normalizedChannels(model: PresenceModel): Record<string, Record<string, string[]>> {
  const { guildChannels } = model.observable();
  return Object.fromEntries(
    Object.entries(guildChannels).map(([g, chans]) => [
      g,
      Object.fromEntries(Object.entries(chans).map(([c, m]) => [c, [...m].sort(byId)])),
    ]),
  );
}
