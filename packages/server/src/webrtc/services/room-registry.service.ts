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
    if (result !== 'full') {
      await this.store.hashSetIfCapacity(roomsOfKey(peer.peerId), roomId, 1, Number.MAX_SAFE_INTEGER);
      // The index of rooms (for the admin API): the first join's time stays as the room's creation.
      await this.store.hashSetIfCapacity(ROOM_INDEX, roomId, peer.joinedAt, Number.MAX_SAFE_INTEGER);
    }
    return result;
  }

  /** Removes the peer; returns whether it was in the room. */
  async leave(roomId: string, peerId: string): Promise<boolean> {
    await this.store.hashDelete(roomsOfKey(peerId), roomId);
    const was = await this.store.hashDelete(roomKey(roomId), peerId);
    // The last one out takes the room off the index. (A join racing this on another instance can
    // leave a room unlisted until its next join; listings skip indexed rooms found empty.)
    if (was && (await this.peerIds(roomId)).length === 0) await this.store.hashDelete(ROOM_INDEX, roomId);
    return was;
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
