// Problems from the server ({path, message, level}) in the user's words, not JSON paths.
import {describePath} from './document-model.js';

// "✕ c2 eth0 address 1: 192.168.10.2 is already used at c1 eth0 address 1"
export function problemLine(doc, p) {
  const where = describePath(doc, p.path);
  const message = p.message.replace(/(?:nodes|links)\[\d+\][\w.[\]]*/g, (path) => describePath(doc, path));
  return `${p.level === 'error' ? '✕' : '⚠'} ${where ? `${where}: ` : ''}${message}`;
}
