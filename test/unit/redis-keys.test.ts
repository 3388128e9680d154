import { BUCKET_TAGS, bucketOfId, KeyLayout, keySlot } from '../../src/state-store/redis-keys';

describe('the key layout', () => {
  it('computes Redis Cluster slots as CLUSTER KEYSLOT does, hash tags included', () => {
    expect(keySlot('123456789')).toBe(12739); // the CRC16-XMODEM check value, 0x31C3
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(8363); // an empty tag: the whole key (CLUSTER KEYSLOT of a real node) ...
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar')); // ... not the later {bar}
    expect(keySlot('{5n3}USER:STATE')).toBe(keySlot('5n3'));
  });

  it('spreads the 128 bucket tags evenly over the slots: tag i on slot 128·i + 64', () => {
    expect(BUCKET_TAGS).toHaveLength(128);
    BUCKET_TAGS.forEach((tag, i) => expect(keySlot(tag)).toBe(128 * i + 64));
    // redis-cli --cluster create splits the slots 0-5460, 5461-10922, 10923-16383: 43, 42, 43 buckets.
    const perMaster = [0, 0, 0];
    BUCKET_TAGS.forEach((tag) => perMaster[keySlot(tag) <= 5460 ? 0 : keySlot(tag) <= 10922 ? 1 : 2]++);
    expect(perMaster).toEqual([43, 42, 43]);
  });

  it.each([
    ['snowflakes', (i: number) => (1234567890123456789n + BigInt(i) * 4_194_304n + BigInt(i % 7)).toString()],
    ['sequential ids', (i: number) => (300_000_000_000_000_000n + BigInt(i)).toString()],
    ['session ids', (i: number) => `s${i.toString(36)}`],
  ])('spreads %s evenly over the buckets', (_kind, id) => {
    const counts = new Array(128).fill(0);
    for (let i = 0; i < 128_000; i++) counts[bucketOfId(id(i))]++;
    expect(Math.max(...counts)).toBeLessThan(1150);
    expect(Math.min(...counts)).toBeGreaterThan(850);
  });

  it("keeps today's names on a single Redis and tags every key with its bucket on a cluster", () => {
    const single = new KeyLayout(false);
    expect([single.userStatesOf('7'), single.guildChannels('100'), single.session('7', 's1'), single.counters(0)]).toEqual([
      'USER:STATE',
      'GUILD:100',
      'SESSION:7:s1',
      'STATE_COUNTERS',
    ]);
    expect(single.buckets).toEqual([0]);
    const cluster = new KeyLayout(true);
    const tag = `{${BUCKET_TAGS[bucketOfId('7')]}}`;
    expect([cluster.userStatesOf('7'), cluster.userVoice('7'), cluster.session('7', 's{1}')]).toEqual([
      `${tag}USER:STATE`,
      `${tag}USER_VOICE:7`,
      `${tag}SESSION:7:s{1}`,
    ]);
    // Every key of a user is in the slot of that user's bucket, whatever the session id holds.
    expect(keySlot(cluster.session('7', 's{1}'))).toBe(keySlot(cluster.counters(bucketOfId('7'))));
    expect(keySlot(cluster.guildChannels('100'))).toBe(keySlot(cluster.guildOnline('100')));
  });
});
