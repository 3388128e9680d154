import { GroupCommit } from '../../src/common/group-commit';

describe('GroupCommit', () => {
  it('flushes a lone call at once and groups the calls that arrive while a flush is in flight', async () => {
    const flushes: number[][] = [];
    let release: () => void = () => undefined;
    const commit = new GroupCommit<number, number>(async (items) => {
      flushes.push(items);
      if (flushes.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((i) => i * 10);
    });
    const first = commit.submit(1);
    const rest = [commit.submit(2), commit.submit(3), commit.submit(4)];
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(flushes).toEqual([[1], [2, 3, 4]]);
  });

  it('gives every call of a failed flush its error, and goes on with the next', async () => {
    let calls = 0;
    const commit = new GroupCommit<string, string>(async (items) => {
      if (calls++ === 0) throw new Error('Redis unreachable');
      return items;
    });
    await expect(commit.submit('a')).rejects.toThrow('Redis unreachable');
    await expect(commit.submit('b')).resolves.toBe('b');
  });
});
