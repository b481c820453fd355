import type { PeerInfo } from '@switchboard/protocol';
import { after, type Awaitable } from '../../common/awaitable';
import type { StateStore } from '../store/state-store';

export interface RoomRegistryOptions {
  /** Maximum peers per room. Default 16. */
  maxPeersPerRoom: number;
}

/** Room membership: which peers are in which room, and each peer's rooms. */
export class RoomRegistryService {
  constructor(
    private readonly store: StateStore,
    private readonly options: RoomRegistryOptions,
  ) {}

  /** Adds the peer; `full` when the room is at capacity, `exists` when it was already in. */
  async join(roomId: string, peer: PeerInfo): Promise<'added' | 'exists' | 'full'> {
    const result = await this.store.hashSetIfCapacity(
      roomKey(roomId),
      peer.peerId,
      peer,
      this.options.maxPeersPerRoom,
    );
    if (result !== 'full')
      await this.store.hashSetIfCapacity(roomsOfKey(peer.peerId), roomId, 1, Number.MAX_SAFE_INTEGER);
    return result;
  }

  /**
   * Lists the room in the index of rooms (the admin API's) unless it is there; true when this call
   * listed it, i.e. the room has just started. One atomic step: of two instances whose peers join
   * an empty room at once, exactly one gets true. `at` (Unix ms) is kept as its creation time.
   */
  async markStarted(roomId: string, at: number): Promise<boolean> {
    return (await this.store.hashSetIfCapacity(ROOM_INDEX, roomId, at, Number.MAX_SAFE_INTEGER)) === 'added';
  }

  /**
   * Takes the room off the index if nobody is in it; true when this call did, i.e. the room has
   * just finished (exactly one of several instances emptying it at once gets true). A join racing
   * this on another instance can leave the room unlisted until its next start.
   */
  async markFinishedIfEmpty(roomId: string): Promise<boolean> {
    if ((await this.peerIds(roomId)).length > 0) return false;
    return this.store.hashDelete(ROOM_INDEX, roomId);
  }

  /** Removes the peer; returns whether it was in the room. */
  async leave(roomId: string, peerId: string): Promise<boolean> {
    await this.store.hashDelete(roomsOfKey(peerId), roomId);
    return this.store.hashDelete(roomKey(roomId), peerId);
  }

  /** Every room with at least one peer, and when it was created (Unix ms). */
  async rooms(): Promise<{ roomId: string; createdAt: number }[]> {
    return [...(await this.store.hashGetAll<number>(ROOM_INDEX))].map(([roomId, createdAt]) => ({
      roomId,
      createdAt,
    }));
  }

  /** When the room was created (Unix ms), or undefined when it has no peers. */
  createdAt(roomId: string): Awaitable<number | undefined> {
    return this.store.hashGet<number>(ROOM_INDEX, roomId);
  }

  async peers(roomId: string): Promise<PeerInfo[]> {
    return [...(await this.store.hashGetAll<PeerInfo>(roomKey(roomId))).values()];
  }

  async peerIds(roomId: string): Promise<string[]> {
    return [...(await this.store.hashGetAll<PeerInfo>(roomKey(roomId))).keys()];
  }

  isMember(roomId: string, peerId: string): Awaitable<boolean> {
    return after(this.store.hashGet(roomKey(roomId), peerId), (v) => v !== undefined);
  }

  /** The store key of the room's members (a hash of peer id → {@link PeerInfo}). */
  membersKey(roomId: string): string {
    return roomKey(roomId);
  }

  async roomsOf(peerId: string): Promise<string[]> {
    return [...(await this.store.hashGetAll(roomsOfKey(peerId))).keys()];
  }
}

const ROOM_INDEX = 'rooms';
function roomKey(roomId: string): string {
  return `room:${roomId}`;
}
function roomsOfKey(peerId: string): string {
  return `peer-rooms:${peerId}`;
}
