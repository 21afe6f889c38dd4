import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { redactUrl } from "../../src/net/redact-url.js";

/**
 * The one redactor every shown or logged broker URL goes through: the password is replaced, the user name
 * and the rest are kept, and whatever cannot be read as a URL never comes out as it went in.
 */

test("the password is replaced and the user name kept", () => {
  assert.equal(redactUrl("mqtt://worker:pw@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtts://worker:pw@broker.example:8883"), "mqtts://worker:***@broker.example:8883");
  assert.equal(redactUrl("mqtt://:pw@host:1883"), "mqtt://:***@host:1883");
});

test("'@' and ':' in the password: the last '@' of the authority ends it, as URL parsers read it", () => {
  assert.equal(redactUrl("mqtt://worker:p@ss@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtt://worker:p@s@s@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtt://worker:pa:ss@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtt://worker:a:b@c@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtt://worker::@host:1883"), "mqtt://worker:***@host:1883");
});

test("a percent-encoded password is hidden whole; an encoded user name is kept as written", () => {
  assert.equal(redactUrl("mqtt://worker:p%40ss%3Aword@host:1883"), "mqtt://worker:***@host:1883");
  assert.equal(redactUrl("mqtt://me%40example.org:pw@host:1883"), "mqtt://me%40example.org:***@host:1883");
  assert.equal(redactUrl("mqtt://me@example.org:pw@host:1883"), "mqtt://me%40example.org:***@host:1883");
});

test("WebSocket URLs keep their path and query", () => {
  assert.equal(
    redactUrl("ws://worker:pw@broker.example:9001/mqtt"),
    "ws://worker:***@broker.example:9001/mqtt",
  );
  assert.equal(
    redactUrl("wss://worker:p@ss@broker.example/mqtt?x=1"),
    "wss://worker:***@broker.example/mqtt?x=1",
  );
  assert.equal(redactUrl("ws://worker:p@ss@host:8080/"), "ws://worker:***@host:8080/");
});

test("IPv6 hosts", () => {
  assert.equal(redactUrl("mqtt://worker:pw@[::1]:1883"), "mqtt://worker:***@[::1]:1883");
  assert.equal(redactUrl("ws://worker:p@ss:w@[fd00::2]:9001/mqtt"), "ws://worker:***@[fd00::2]:9001/mqtt");
  assert.equal(redactUrl("mqtt://[::1]:1883"), "mqtt://[::1]:1883");
});

test("a URL without a password is shown as it is", () => {
  for (const url of [
    "mqtt://127.0.0.1:1883",
    "mqtt://worker@host:1883",
    "mqtts://Broker.Example:8883",
    "ws://[::1]:9001/mqtt",
    "wss://broker.example/mqtt",
  ]) {
    assert.equal(redactUrl(url), url);
  }
});

test("a '/' in an unencoded password: nothing of it is shown, whichever way it parses", () => {
  // Parsed as host "worker", port 12 and the path "/x@host": no password as far as a parser sees.
  const parsable = redactUrl("mqtt://worker:12/x@host:1883");
  assert.equal(parsable, "mqtt://***@host:1883");
  // Parsed as user "worker", password "p", host "ss", path "/x@host": the rest of the password is a path.
  assert.equal(redactUrl("mqtt://worker:p@ss/x@host:1883"), "mqtt://***@host:1883");
  // Not parsable (port "ab"): everything before the last '@' is hidden.
  assert.equal(redactUrl("mqtt://worker:ab/cd+ef@host:1883"), "mqtt://***@host:1883");
  assert.equal(redactUrl("ws://worker:ab\\cd@host:1883/mqtt"), "ws://***@host:1883/mqtt");
});

test("what cannot be read as a URL is never shown raw", () => {
  assert.equal(redactUrl("worker:secret"), "<unparsable URL>");
  assert.equal(redactUrl("mqtt://worker:ab/cdef"), "<unparsable URL>");
  assert.equal(redactUrl("mqtt://host name:1883"), "<unparsable URL>");
  assert.equal(redactUrl(""), "<unparsable URL>");
  assert.equal(redactUrl("mqtt://worker:pw@host:99999"), "mqtt://***@host:99999");
});

/** Printable ASCII that an unencoded password may hold: '/', '?', '#' and '\' would end the authority. */
const RAW_PASSWORD = fc.stringMatching(/^[ !"$-.0-9:;<=>@-[\]-~]{1,40}$/);

test("property: any password, raw or percent-encoded, leaves exactly the stars", () => {
  fc.assert(
    fc.property(fc.constantFrom("mqtt", "mqtts", "ws", "wss"), RAW_PASSWORD, (scheme, password) => {
      // ws and wss are "special" schemes to the URL parser: their empty path is written as "/".
      const path = scheme.startsWith("ws") ? "/" : "";
      const redacted = redactUrl(`${scheme}://worker:${password}@broker.example`);
      assert.equal(redacted, `${scheme}://worker:***@broker.example${path}`);
    }),
  );
  fc.assert(
    fc.property(fc.string({ minLength: 1, unit: "grapheme" }), (password) => {
      const url = `mqtt://worker:${encodeURIComponent(password)}@broker.example:1883`;
      assert.equal(redactUrl(url), "mqtt://worker:***@broker.example:1883");
    }),
  );
});
