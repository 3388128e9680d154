/** A state as the chat server sends it: any 1-32 printable characters, stored verbatim. */
export const STATE_TEXT = /^[^\p{C}]{1,32}$/u;
export const STATE_RULE = 'state must be 1 to 32 printable characters, e.g. online, idle, dnd';
