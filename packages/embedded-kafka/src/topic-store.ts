/**
 * All topics and their partition logs, plus the wake-up hook long-polling
 * fetches wait on.
 */
import { PartitionLog, RetentionLimits } from './log';

export interface Topic {
  name: string;
  partitions: PartitionLog[];
}

const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function isValidTopicName(name: string): boolean {
  return LEGAL_TOPIC_NAME.test(name) && name !== '.' && name !== '..';
}

type DataListener = () => void;

export class TopicStore {
  private readonly topics = new Map<string, Topic>();
  /** Per "topic/partition" key: fetches parked until data arrives there. */
  private readonly listeners = new Map<string, Set<DataListener>>();

  constructor(
    readonly defaultPartitions: number,
    private readonly retention: RetentionLimits,
  ) {}

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.partitions[partition];
  }

  names(): string[] {
    return [...this.topics.keys()];
  }

  create(name: string, partitions = this.defaultPartitions): Topic {
    const topic: Topic = {
      name,
      partitions: Array.from({ length: partitions }, () => new PartitionLog(this.retention)),
    };
    this.topics.set(name, topic);
    return topic;
  }

  delete(name: string): boolean {
    const existed = this.topics.delete(name);
    // Parked fetches on the deleted topic re-evaluate and see UNKNOWN_TOPIC_OR_PARTITION.
    if (existed) for (const [key] of this.listeners) if (key.startsWith(`${name}/`)) this.notify(key);
    return existed;
  }

  /** Registers a listener for new data on any of the given partitions; returns the unsubscribe function. */
  onData(keys: string[], listener: DataListener): () => void {
    for (const key of keys) {
      let set = this.listeners.get(key);
      if (!set) this.listeners.set(key, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const key of keys) {
        const set = this.listeners.get(key);
        if (!set) continue;
        set.delete(listener);
        if (set.size === 0) this.listeners.delete(key);
      }
    };
  }

  notifyAppend(topic: string, partition: number): void {
    this.notify(`${topic}/${partition}`);
  }

  private notify(key: string): void {
    const set = this.listeners.get(key);
    if (!set) return;
    for (const listener of [...set]) listener();
  }
}
