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

  /** Removes the peer; returns whether it was in the room. */
  async leave(roomId: string, peerId: string): Promise<boolean> {
    await this.store.hashDelete(roomsOfKey(peerId), roomId);
    return this.store.hashDelete(roomKey(roomId), peerId);
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

function roomKey(roomId: string): string {
  return `room:${roomId}`;
}
function roomsOfKey(peerId: string): string {
  return `peer-rooms:${peerId}`;
}
