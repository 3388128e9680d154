/**
 * Consumer group coordination (classic protocol), a condensed version of
 * Kafka's GroupCoordinator state machine:
 *
 *   Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
 *   CompletingRebalance --leader's SyncGroup--> Stable --join/leave/expiry--> PreparingRebalance
 *
 * Members learn about a rebalance from Heartbeat answering REBALANCE_IN_PROGRESS.
 * JoinGroup and (follower) SyncGroup calls are parked until the phase completes.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode } from './error-codes';

export interface GroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinRequest {
  groupId: string;
  memberId: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  members: { memberId: string; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  assignment: Buffer;
}

export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

interface Member {
  id: string;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  assignment: Buffer;
  pendingJoin?: (result: JoinResult) => void;
  pendingSync?: (result: SyncResult) => void;
  sessionTimer?: NodeJS.Timeout;
}

class Group {
  state: GroupState = 'Empty';
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  /** topic -> partition -> committed offset; kept while the group is empty, like Kafka. */
  readonly offsets = new Map<string, Map<number, CommittedOffset>>();
  rebalanceTimer?: NodeJS.Timeout;

  constructor(readonly id: string) {}
}

const EMPTY = Buffer.alloc(0);

export interface GroupLogger {
  debug?(message: string): void;
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private stopped = false;

  constructor(
    private readonly log: GroupLogger = {},
    /** Kafka's group.min.session.timeout.ms and group.max.session.timeout.ms. */
    private readonly sessionTimeoutBounds = { min: 6000, max: 1_800_000 },
  ) {}

  /** Whether the group exists: it has had members or committed offsets. */
  knows(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  private group(groupId: string, create: boolean): Group | undefined {
    let group = this.groups.get(groupId);
    if (!group && create) this.groups.set(groupId, (group = new Group(groupId)));
    return group;
  }

  join(req: JoinRequest): Promise<JoinResult> {
    const fail = (errorCode: number): Promise<JoinResult> =>
      Promise.resolve({ errorCode, generationId: -1, protocolName: '', leaderId: '', memberId: req.memberId, members: [] });
    if (!req.groupId) return fail(ErrorCode.INVALID_GROUP_ID);
    // As Kafka: a session timeout outside the broker's bounds is refused before the group is touched.
    const { min, max } = this.sessionTimeoutBounds;
    if (req.sessionTimeoutMs < min || req.sessionTimeoutMs > max) return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    const group = this.group(req.groupId, true)!;

    if (group.members.size > 0) {
      const others = [...group.members.values()].filter((m) => m.id !== req.memberId);
      const compatible =
        req.protocolType === group.protocolType &&
        req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
      if (!compatible) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }

    let member: Member | undefined;
    if (req.memberId === '') {
      member = {
        id: `${req.clientId || 'member'}-${randomUUID()}`,
        clientId: req.clientId,
        clientHost: req.clientHost,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        protocolType: req.protocolType,
        protocols: req.protocols,
        assignment: EMPTY,
      };
      group.members.set(member.id, member);
      group.protocolType = req.protocolType;
      this.log.debug?.(`group ${group.id}: member ${member.id} joined`);
    } else {
      member = group.members.get(req.memberId);
      if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      const unchanged = sameProtocols(member.protocols, req.protocols);
      member.sessionTimeoutMs = req.sessionTimeoutMs;
      member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
      member.protocols = req.protocols;
      // A follower re-sending an unchanged join (e.g. it missed the answer) gets the
      // current generation instead of forcing everyone through another rebalance.
      if (unchanged && (group.state === 'CompletingRebalance' || (group.state === 'Stable' && member.id !== group.leaderId))) {
        this.scheduleSessionExpiry(group, member);
        return Promise.resolve(this.joinResultFor(group, member));
      }
    }

    const joined = member;
    return new Promise<JoinResult>((resolve) => {
      if (joined.pendingJoin) joined.pendingJoin({ ...this.joinResultFor(group, joined), errorCode: ErrorCode.REBALANCE_IN_PROGRESS });
      joined.pendingJoin = resolve;
      // The rebalance timer covers members waiting in JoinGroup.
      clearTimeout(joined.sessionTimer);
      joined.sessionTimer = undefined;
      if (group.state !== 'PreparingRebalance') this.prepareRebalance(group);
      else this.maybeCompleteJoin(group);
    });
  }

  sync(
    groupId: string,
    generationId: number,
    memberId: string,
    assignments: { memberId: string; assignment: Buffer }[],
  ): Promise<SyncResult> {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (!group || !member) return Promise.resolve({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
    if (generationId !== group.generationId) return Promise.resolve({ errorCode: ErrorCode.ILLEGAL_GENERATION, assignment: EMPTY });
    this.scheduleSessionExpiry(group, member);
    switch (group.state) {
      case 'PreparingRebalance':
      case 'Empty':
        return Promise.resolve({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
      case 'Stable':
        return Promise.resolve({ errorCode: ErrorCode.NONE, assignment: member.assignment });
      case 'CompletingRebalance':
        return new Promise<SyncResult>((resolve) => {
          member.pendingSync = resolve;
          if (member.id !== group.leaderId) return;
          for (const { memberId: id, assignment } of assignments) {
            const target = group.members.get(id);
            if (target) target.assignment = Buffer.from(assignment);
          }
          group.state = 'Stable';
          this.log.debug?.(`group ${group.id}: generation ${group.generationId} stable with ${group.members.size} member(s)`);
          for (const m of group.members.values()) {
            m.pendingSync?.({ errorCode: ErrorCode.NONE, assignment: m.assignment });
            m.pendingSync = undefined;
          }
        });
    }
  }

  heartbeat(groupId: string, generationId: number, memberId: string): number {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.scheduleSessionExpiry(group, member);
    return group.state === 'PreparingRebalance' ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  leave(groupId: string, memberId: string): number {
    const group = this.groups.get(groupId);
    const member = group?.members.get(memberId);
    if (!group || !member) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.log.debug?.(`group ${group.id}: member ${member.id} left`);
    this.removeMember(group, member);
    return ErrorCode.NONE;
  }

  commitOffsets(
    groupId: string,
    generationId: number,
    memberId: string,
    offsets: { topic: string; partition: number; offset: number; metadata: string | null }[],
  ): number {
    if (!groupId) return ErrorCode.INVALID_GROUP_ID;
    const group = this.group(groupId, true)!;
    if (generationId < 0 && memberId === '') {
      // Commit from outside the group protocol (admin setOffsets, simple consumers).
      if (group.members.size > 0) return ErrorCode.UNKNOWN_MEMBER_ID;
    } else {
      const member = group.members.get(memberId);
      if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
      // Commits from the current generation are accepted while rebalancing so a
      // member can save its progress before rejoining; only the window between
      // join and sync (no assignment yet) is refused, as Kafka does.
      if (group.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
      this.scheduleSessionExpiry(group, member);
    }
    for (const { topic, partition, offset, metadata } of offsets) {
      let byPartition = group.offsets.get(topic);
      if (!byPartition) group.offsets.set(topic, (byPartition = new Map<number, CommittedOffset>()));
      byPartition.set(partition, { offset, metadata });
    }
    return ErrorCode.NONE;
  }

  /** Committed offset or undefined. */
  committed(groupId: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.groups.get(groupId)?.offsets.get(topic)?.get(partition);
  }

  /** All committed offsets of a group (OffsetFetch with a null topic list). */
  allCommitted(groupId: string): { topic: string; partitions: { partition: number; committed: CommittedOffset }[] }[] {
    const group = this.groups.get(groupId);
    if (!group) return [];
    return [...group.offsets].map(([topic, byPartition]) => ({
      topic,
      partitions: [...byPartition].map(([partition, committed]) => ({ partition, committed })),
    }));
  }

  forgetTopic(topic: string): void {
    for (const group of this.groups.values()) group.offsets.delete(topic);
  }

  describe(groupId: string) {
    const group = this.groups.get(groupId);
    if (!group) {
      return { groupId, state: 'Dead', protocolType: '', protocolName: '', members: [] as DescribedMember[] };
    }
    const stable = group.state === 'Stable';
    return {
      groupId,
      state: group.state,
      protocolType: group.protocolType ?? '',
      protocolName: stable ? (group.protocolName ?? '') : '',
      members: [...group.members.values()].map((m): DescribedMember => ({
        memberId: m.id,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: stable ? (m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY) : EMPTY,
        assignment: stable ? m.assignment : EMPTY,
      })),
    };
  }

  list(): { groupId: string; protocolType: string }[] {
    return [...this.groups.values()].map((g) => ({ groupId: g.id, protocolType: g.protocolType ?? '' }));
  }

  /** Clears every timer and answers parked calls so the process can exit. */
  stop(): void {
    this.stopped = true;
    for (const group of this.groups.values()) {
      clearTimeout(group.rebalanceTimer);
      for (const m of group.members.values()) {
        clearTimeout(m.sessionTimer);
        m.pendingJoin?.({ ...this.joinResultFor(group, m), errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE });
        m.pendingSync?.({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, assignment: EMPTY });
      }
    }
    this.groups.clear();
  }

  // --- state machine internals -------------------------------------------

  private prepareRebalance(group: Group): void {
    if (group.state === 'CompletingRebalance') {
      // Followers waiting for the leader's assignment must rejoin instead.
      for (const m of group.members.values()) {
        m.pendingSync?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY });
        m.pendingSync = undefined;
      }
    }
    group.state = 'PreparingRebalance';
    if (!group.rebalanceTimer && !this.stopped) {
      const timeout = Math.max(0, ...[...group.members.values()].map((m) => m.rebalanceTimeoutMs));
      group.rebalanceTimer = setTimeout(() => this.completeJoin(group), timeout);
      group.rebalanceTimer.unref();
    }
    this.maybeCompleteJoin(group);
  }

  private maybeCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return;
    for (const m of group.members.values()) if (!m.pendingJoin) return;
    this.completeJoin(group);
  }

  /** Ends the join phase: members that did not rejoin in time are dropped. */
  private completeJoin(group: Group): void {
    clearTimeout(group.rebalanceTimer);
    group.rebalanceTimer = undefined;
    if (group.state !== 'PreparingRebalance') return;
    for (const m of [...group.members.values()]) {
      if (!m.pendingJoin) {
        clearTimeout(m.sessionTimer);
        group.members.delete(m.id);
      }
    }
    group.generationId++;
    if (group.members.size === 0) {
      group.state = 'Empty';
      group.protocolName = null;
      group.protocolType = null;
      group.leaderId = null;
      return;
    }
    const members = [...group.members.values()];
    if (!group.leaderId || !group.members.has(group.leaderId)) group.leaderId = members[0].id;
    const leader = group.members.get(group.leaderId)!;
    group.protocolName =
      leader.protocols.find((p) => members.every((m) => m.protocols.some((q) => q.name === p.name)))?.name ??
      leader.protocols[0]?.name ??
      '';
    group.state = 'CompletingRebalance';
    this.log.debug?.(`group ${group.id}: generation ${group.generationId}, ${members.length} member(s), leader ${group.leaderId}`);
    for (const m of members) {
      m.assignment = EMPTY;
      const resolve = m.pendingJoin!;
      m.pendingJoin = undefined;
      this.scheduleSessionExpiry(group, m);
      resolve(this.joinResultFor(group, m));
    }
  }

  private joinResultFor(group: Group, member: Member): JoinResult {
    const isLeader = member.id === group.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolName: group.protocolName ?? '',
      leaderId: group.leaderId ?? '',
      memberId: member.id,
      members: isLeader
        ? [...group.members.values()].map((m) => ({
            memberId: m.id,
            metadata: m.protocols.find((p) => p.name === group.protocolName)?.metadata ?? EMPTY,
          }))
        : [],
    };
  }

  private scheduleSessionExpiry(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer);
    if (this.stopped) return;
    member.sessionTimer = setTimeout(() => {
      if (group.members.get(member.id) !== member) return;
      this.log.debug?.(`group ${group.id}: member ${member.id} session expired`);
      this.removeMember(group, member);
    }, member.sessionTimeoutMs);
    member.sessionTimer.unref();
  }

  private removeMember(group: Group, member: Member): void {
    clearTimeout(member.sessionTimer);
    group.members.delete(member.id);
    member.pendingJoin?.({ ...this.joinResultFor(group, member), errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
    member.pendingSync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY });
    if (group.state === 'PreparingRebalance') this.maybeCompleteJoin(group);
    else if (group.state !== 'Empty') this.prepareRebalance(group);
  }
}

interface DescribedMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  metadata: Buffer;
  assignment: Buffer;
}

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i].name && p.metadata.equals(b[i].metadata));
}
