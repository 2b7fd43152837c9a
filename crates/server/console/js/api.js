// The control plane's 17 operations, called from the page with SigV4 (sigv4.js), over the same
// origin that served the console. Errors are thrown as ApiError with AWS's error name and
// message, which the pages show as they are.
import { sign, uriEncode } from './sigv4.js';

export class ApiError extends Error {
  constructor(name, message, status) {
    super(message || name);
    this.name = name;
    this.status = status;
  }
}

let credentials = null;

/** {accessKeyId, secretAccessKey, region} used for every call until signOut(). */
export function signIn(value) {
  credentials = value;
}

export function signOut() {
  credentials = null;
}

export function signedIn() {
  return credentials !== null;
}

export function currentUser() {
  return credentials;
}

async function call(method, path, { query = [], body } = {}) {
  if (!credentials) throw new ApiError('NotSignedIn', 'Sign in first.', 0);
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = await sign(credentials, { method, path, query, body: text, host: location.host });
  const search = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
  const response = await fetch(path + (search ? '?' + search : ''), {
    method,
    headers,
    body: text || undefined,
    credentials: 'omit',
    cache: 'no-store',
  });
  const raw = await response.text();
  const json = raw ? JSON.parse(raw) : {};
  if (!response.ok) {
    const type = (response.headers.get('x-amzn-errortype') || json.__type || `HTTP ${response.status}`).split(':')[0];
    throw new ApiError(type.split('#').pop(), json.message || json.Message || '', response.status);
  }
  return json;
}

const op = (name) => (input = {}) => call('POST', '/' + name, { body: input });

export const createRoom = op('CreateRoom');
export const getRoom = op('GetRoom');
export const updateRoom = op('UpdateRoom');
export const deleteRoom = op('DeleteRoom');
export const listRooms = op('ListRooms');
export const createLoggingConfiguration = op('CreateLoggingConfiguration');
export const getLoggingConfiguration = op('GetLoggingConfiguration');
export const updateLoggingConfiguration = op('UpdateLoggingConfiguration');
export const deleteLoggingConfiguration = op('DeleteLoggingConfiguration');
export const listLoggingConfigurations = op('ListLoggingConfigurations');
export const createChatToken = op('CreateChatToken');
export const sendEvent = op('SendEvent');
export const deleteMessage = op('DeleteMessage');
export const disconnectUser = op('DisconnectUser');

const tagsPath = (arn) => '/tags/' + uriEncode(arn);
export const listTagsForResource = ({ resourceArn }) => call('GET', tagsPath(resourceArn));
export const tagResource = ({ resourceArn, tags }) => call('POST', tagsPath(resourceArn), { body: { tags } });
export const untagResource = ({ resourceArn, tagKeys }) =>
  call('DELETE', tagsPath(resourceArn), { query: tagKeys.map((k) => ['tagKeys', k]) });
