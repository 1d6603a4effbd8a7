export { ControlError, type ControlErrorCode } from './control-error.js';
export { controlSocketPath } from './socket-path.js';
export { CONTROL_OPS, isControlOp, type ControlOp, type ControlResult, type MarkedPath, type RealizeProgressReport } from './ops.js';
export { CONTROL_VERSION, decodeRequest, decodeResponse, encodeLine, rebuildError, errorInfo, type ControlRequest, type ControlResponse } from './protocol.js';
export { ControlServer, type ControlServerOptions } from './server.js';
export { callControl, type CallOptions } from './client.js';
