/** The ASCII bytes the CSV block reader and its number parser look for. */
export const NEWLINE = 0x0a;
export const RETURN = 0x0d;
export const QUOTE = 0x22;
export const COMMA = 0x2c;
export const SPACE = 0x20;
export const TAB = 0x09;
export const DOT = 0x2e;
export const MINUS = 0x2d;
export const PLUS = 0x2b;
export const ZERO = 0x30;
export const NINE = 0x39;
