import assert from "node:assert/strict";
import { test } from "node:test";
import { lineDiff, linesDiff, readmeBlocks } from "./readme.js";

/** The parts of readme-commands.test.ts that decide what is run and what counts as a difference. */

const fence = "```";
const sample = [
  "## Quick start",
  "",
  "<!-- docs-test: skip (needs docker) -->",
  `${fence}sh`,
  "docker compose up -d",
  fence,
  "",
  `${fence}sh`,
  "mosquitto_sub -v -t 'qga/#' &          # watch",
  "mosquitto_pub -t qga/demo1/cmd/ping -m ''",
  '# qga/demo1/reply/ping {"ok":true}',
  fence,
  "",
  "## Configuration",
  "",
  `${fence}sh`,
  "not run: outside the sections",
  fence,
  "",
  "## The fleet: call, list, watch",
  "",
  `${fence}sh`,
  "$ npx qga-mqtt call all ping",
  "VM     OK  MS   RESULT",
  "1 expected, 1 replied          # (on stderr)",
  "$ echo $?",
  "0",
  "",
  "$ npx qga-mqtt list",
  fence,
].join("\n");

test("the README's sh blocks of the run sections are found, with their skip markers and shown output", () => {
  const blocks = readmeBlocks(sample);
  assert.deepEqual(
    blocks.map((block) => [block.section, block.line, block.skip, block.prompts, block.steps.length]),
    [
      ["Quick start", 4, "needs docker", false, 1],
      ["Quick start", 8, undefined, false, 2],
      ["The fleet: call, list, watch", 22, undefined, true, 3],
    ],
  );
  const [, watch, fleet] = blocks;
  assert.equal(watch?.steps[0]?.background, true);
  assert.equal(watch?.steps[1]?.background, false);
  assert.deepEqual(watch?.steps[1]?.stdout, ['qga/demo1/reply/ping {"ok":true}']);
  assert.deepEqual(fleet?.steps[0], {
    command: "npx qga-mqtt call all ping",
    line: 23,
    stdout: ["VM     OK  MS   RESULT"],
    stderr: ["1 expected, 1 replied"],
    background: false,
  });
  assert.deepEqual(fleet?.steps[1]?.stdout, ["0"]);
  assert.deepEqual(fleet?.steps[2]?.stdout, []);
});

test("ids, times, durations and host names aside, a printed line must have the README's shape", () => {
  const shown =
    'qga/demo1/event {"event":"command","id":"qga-mqtt-call-444f63668b3f-1f9387a4","ms":3.477,"time":"2026-11-26T16:36:37.028Z","hostname":"web1"}';
  const same =
    'qga/demo1/event {"event":"command","id":"qga-mqtt-call-0a1b2c3d4e5f-00aa11bb","ms":12,"time":"2026-12-07T09:00:00.000Z","hostname":"vm"}';
  assert.equal(lineDiff(shown, same), undefined);
  // Another value where the README shows one, a missing or extra key, another topic: all differ.
  assert.match(lineDiff(shown, same.replace('"command"', '"status"')) ?? "", /\$\.event/);
  assert.match(lineDiff(shown, same.replace(',"ms":12', "")) ?? "", /-ms/);
  assert.match(lineDiff(shown, same.replace('"ms":12', '"ms":12,"extra":1')) ?? "", /\+extra/);
  assert.match(lineDiff(shown, same.replace("qga/demo1/", "qga/demo2/")) ?? "", /qga\/demo2\/event/);
  assert.match(lineDiff(shown, same.replace('"ms":12', '"ms":"12"')) ?? "", /a number/);
  assert.ok(lineDiff(shown, "not JSON"));
});

test("`, ...` in the README's JSON allows more keys; the keys it shows must still be there", () => {
  const shown = '{"id":"c1","ok":true,"result":{"vm":"demo1","agent":"online", ...},"ms":4.5}';
  assert.equal(
    lineDiff(shown, '{"id":"c1","ok":true,"result":{"vm":"demo1","agent":"online","os":{}},"ms":1}'),
    undefined,
  );
  assert.ok(lineDiff(shown, '{"id":"c1","ok":true,"result":{"vm":"demo1","os":{}},"ms":1}'));
  assert.ok(lineDiff(shown, '{"id":"c1","ok":true,"result":{"vm":"demo1","agent":"offline"},"ms":1}'));
});

test("a list is the host's: any length, each item shaped as the one shown", () => {
  const shown = '[{"mountpoint":"/","type":"ext4","used_pct":23.3}]';
  assert.equal(
    lineDiff(
      shown,
      '[{"mountpoint":"/","type":"xfs","used_pct":1},{"mountpoint":"/boot","type":"ext2","used_pct":5}]',
    ),
    undefined,
  );
  assert.ok(lineDiff(shown, "[]"));
  assert.ok(lineDiff(shown, '[{"mountpoint":"/","used_pct":1}]'));
});

test("text lines: spacing and decimals aside; a line the README shows cut is compared up to the cut", () => {
  assert.equal(lineDiff('demo1  ok  1.7  {"zone":"UTC"}', 'demo1  ok  12.5   {"zone":"UTC"}'), undefined);
  assert.ok(lineDiff('demo1  ok  1.7  {"zone":"UTC"}', 'demo1  FAIL  1.7  {"zone":"UTC"}'));
  assert.ok(lineDiff("3 VMs on 1 workers", "2 VMs on 1 workers"));
  const cut =
    'demo1  FAIL  0.5  forbidden: the policy does not allow reboot on demo1 (it is in the "power" set; p…';
  assert.equal(
    lineDiff(
      cut,
      'demo1  FAIL  10.5  forbidden: the policy does not allow reboot on demo1 (it is in the "power" set;…',
    ),
    undefined,
  );
  assert.ok(
    lineDiff(
      cut,
      "demo1  FAIL  0.5  timeout: the agent did not answer within 10 s, the request was dropped (it…",
    ),
  );
});

test("lines in order for a command's own output, in any order for what a subscription shows", () => {
  const shown = ['a/1 {"n":1}', 'a/2 {"n":2}'];
  assert.deepEqual(linesDiff(shown, ['a/2 {"n":5}', 'a/1 {"n":6}'], false), []);
  assert.equal(linesDiff(shown, ['a/2 {"n":5}', 'a/1 {"n":6}'], true).length, 2);
  assert.deepEqual(linesDiff(shown, ['a/1 {"n":1}', 'a/2 {"n":2}', 'a/3 {"n":3}'], false), [
    'printed, not in the README: a/3 {"n":3}',
  ]);
  assert.match(linesDiff(shown, ['a/1 {"n":1}'], true)[0] ?? "", /not printed: a\/2/);
});
