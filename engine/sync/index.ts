/** engine/sync/: the household, areas to follow, the authenticated channel and log shipping. */
export { SyncError, type SyncErrorCode } from './sync-error.js';
export { Household, peerAddEvent, peerRemoveEvent, areaOf, authorOf, type Member, type RemovedPeer } from './household.js';
export { Acks } from './acks.js';
export { SyncState, readFollows, writeFollows, followedAreas, readLive, syncDirOf, type StateFile, type LiveFile, type PeerSeen } from './sync-state.js';
export { parseAddress, formatAddress, type Address } from './address.js';
export { SecureChannel, MAX_MESSAGE_BYTES, MAX_FRAME_BYTES, type ChannelOptions, type ChannelStats } from './secure-channel.js';
export { Sealer, Opener, TAG_BYTES, type FrameCipher } from './aead.js';
export * as handshake from './handshake.js';
export { ephemeralKey, agree } from './x25519.js';
export { encodeMessage, decodeMessage, MSG, type Message } from './messages.js';
export { Session, type SessionStats, type SessionHost } from './session.js';
export { SyncNode, type NodeOptions, type SyncTarget } from './sync-node.js';
export { applyReceived } from './apply-received.js';
export { blocksNamed, missingBlocks, scanMissing } from './block-needs.js';
export { syncStatus, type PeerStatus } from './sync-status.js';
export { syncOnce, syncTargets, type SyncOutcome } from './sync-once.js';
export { addPeer, removePeer, loadHousehold } from './membership.js';
export { createArea, setFollow, followed, heldAreas, listAreas, type AreaRow } from './areas.js';
