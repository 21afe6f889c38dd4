/*
 * Single-byte code pages a Windows console writes (the OEM ones: 437 US, 850 Western Europe, 852 Central
 * Europe, 866 Cyrillic; and the ANSI 1252): bytes 0x80-0xFF as characters, from Python's codecs (bytes
 * 1252 leaves undefined map to the C1 control of the same number, as WHATWG's decoder does). Bytes below
 * 0x80 are ASCII in all of them. Each maps 256 bytes to 256 distinct characters, so text decoded with one
 * turns back into exactly the bytes: a reply in a code page loses nothing.
 */

export const CODE_PAGES = ["cp437", "cp850", "cp852", "cp866", "cp1252"] as const;
export type CodePage = (typeof CODE_PAGES)[number];

// biome-ignore format: one string per code page, 128 characters each
const HIGH_HALF: Record<CodePage, string> = {
  cp437: "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0",
  cp850: "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈıÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u00ad±‗¾¶§÷¸°¨·¹³²■\u00a0",
  cp852: "ÇüéâäůćçłëŐőîŹÄĆÉĹĺôöĽľŚśÖÜŤťŁ×čáíóúĄąŽžĘę¬źČş«»░▒▓│┤ÁÂĚŞ╣║╗╝Żż┐└┴┬├─┼Ăă╚╔╩╦╠═╬¤đĐĎËďŇÍÎě┘┌█▄ŢŮ▀ÓßÔŃńňŠšŔÚŕŰýÝţ´\u00ad˝˛ˇ˘§÷¸°¨˙űŘř■\u00a0",
  cp866: "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмноп░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀рстуфхцчшщъыьэюяЁёЄєЇїЎў°∙·√№¤■\u00a0",
  cp1252: "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ\u00a0¡¢£¤¥¦§¨©ª«¬\u00ad®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ",
};

/** The bytes as text in `codePage`: one character per byte. */
export function decodeCodePage(bytes: Uint8Array, codePage: CodePage): string {
  const high = HIGH_HALF[codePage];
  let text = "";
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : high[byte - 0x80];
  return text;
}

/** The bytes `text` was decoded from with decodeCodePage; undefined if it holds a character the page lacks. */
export function encodeCodePage(text: string, codePage: CodePage): Buffer | undefined {
  const high = HIGH_HALF[codePage];
  const bytes: number[] = [];
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (code < 0x80) bytes.push(code);
    else {
      const index = high.indexOf(char);
      if (index < 0) return undefined;
      bytes.push(0x80 + index);
    }
  }
  return Buffer.from(bytes);
}
