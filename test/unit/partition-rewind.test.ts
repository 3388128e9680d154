import { Consumer, Kafka } from 'kafkajs';
import { PartitionRewinder } from '../../src/recovery/partition-rewind';

/**
 * The rewind's choice of offsets, without a broker: the offsets-by-time lookup fails (as when the
 * broker is unreachable) and the rewinder falls back to its own checkpoints.
 */
const unreachableKafka = {
  admin: () => ({
    connect: () => Promise.reject(new Error('broker unreachable')),
    disconnect: () => Promise.resolve(),
  }),
} as unknown as Kafka;

function recordingConsumer() {
  const seeks: { topic: string; partition: number; offset: string }[] = [];
  return { seeks, consumer: { seek: (target: (typeof seeks)[number]) => seeks.push(target) } as unknown as Consumer };
}

describe('PartitionRewinder', () => {
  it('goes back to the first chunk applied since the moment given, on each assigned partition it applied', async () => {
    const rewinder = new PartitionRewinder(unreachableKafka, 30_000);
    rewinder.assigned({ sessionEvent: [0, 1], channelEvent: [0] });
    const before = Date.now() - 1;
    rewinder.applied('sessionEvent', 0, '100', '199');
    rewinder.applied('sessionEvent', 0, '200', '249');
    rewinder.applied('channelEvent', 0, '7', '9');
    const { seeks, consumer } = recordingConsumer();
    expect(await rewinder.rewind(consumer, before)).toBe(2);
    expect(seeks).toEqual([
      { topic: 'sessionEvent', partition: 0, offset: '100' },
      { topic: 'channelEvent', partition: 0, offset: '7' },
    ]);
  });

  it('never seeks forward: nothing applied since the moment given means no seek', async () => {
    const rewinder = new PartitionRewinder(unreachableKafka, 30_000);
    rewinder.assigned({ sessionEvent: [0] });
    rewinder.applied('sessionEvent', 0, '100', '199');
    const { seeks, consumer } = recordingConsumer();
    expect(await rewinder.rewind(consumer, Date.now() + 60_000)).toBe(0);
    expect(seeks).toEqual([]);
  });

  it("forgets the old group's offsets after a switch to a rebuild's group, which must not be seeked by them", async () => {
    const rewinder = new PartitionRewinder(unreachableKafka, 30_000);
    rewinder.assigned({ sessionEvent: [0] });
    const before = Date.now() - 1;
    rewinder.applied('sessionEvent', 0, '5000', '5099');
    rewinder.forget();
    rewinder.assigned({ sessionEvent: [0] }); // the rebuild's group starts at the earliest offset
    const { seeks, consumer } = recordingConsumer();
    expect(await rewinder.rewind(consumer, before)).toBe(0);
    expect(seeks).toEqual([]);
  });
});
