/**
 * The one redactor for every URL that is shown or logged (the broker's `mqtt.url` above all): the password
 * is replaced by `***`, the user name and the rest are kept, so a log line still says which broker and
 * which user. Nothing that could hold a secret comes out as it went in.
 */

const HIDDEN = "***";
export const UNPARSABLE_URL = "<unparsable URL>";

/** `scheme://`: without it there is no authority to find a password in. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The URL with its password replaced. The URL parser (WHATWG, as browsers and Node read URLs) decides
 * where the password is: the user information ends at the authority's last '@' and the password starts
 * after its first ':', so `mqtt://worker:p@ss@host` is user `worker`, password `p@ss`, host `host`.
 *
 * Where the parser and the writer of the URL may disagree, the part that could be a password is hidden
 * with the user name: an unencoded '/', '?' or '#' in a password ends the authority early, leaving the rest
 * of the password in the path (`mqtt://worker:12/x@host` parses as host `worker`, port 12, path `/x@host`)
 * or making the URL unparsable. So a '@' after the authority, or a URL the parser refuses, shows only what
 * follows the last '@'; an unparsable URL without '@' is not shown at all.
 */
export function redactUrl(text: string): string {
  const scheme = SCHEME.exec(text)?.[0];
  if (scheme === undefined) return UNPARSABLE_URL;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url !== undefined && !`${url.pathname}${url.search}${url.hash}`.includes("@")) {
    // No '@' at all: no user information, and the text is shown as written (not as the parser rewrites it).
    if (!text.includes("@")) return text;
    if (url.password !== "") url.password = HIDDEN;
    return url.href;
  }
  const at = text.lastIndexOf("@");
  return at < scheme.length ? UNPARSABLE_URL : `${scheme}${HIDDEN}@${text.slice(at + 1)}`;
}
