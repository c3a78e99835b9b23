// JsSIP for the talent console's phone line (shared/phone.js), a module of
// its own: the console loads it only when the relay sends a SIP account.
import JsSIP from 'jssip';

export const { UA, WebSocketInterface } = JsSIP;
