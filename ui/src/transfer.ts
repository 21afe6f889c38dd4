/**
 * Files of any size between the page and a VM through the transfer verbs (README "Files of any size:
 * transfers"), as `qga-mqtt cp` moves them, held whole in the browser's memory up to MAX_BROWSER_BYTES.
 * Either may be cancelled with an AbortSignal: it ends in transfer-abort and a TransferCancelled.
 */
export {
  MAX_BROWSER_BYTES,
  type OnProgress,
  TransferCancelled,
  TransferError,
} from "./transfer-common.js";
export { getFile } from "./transfer-get.js";
export { type PutOptions, type PutResult, putFile } from "./transfer-put.js";
