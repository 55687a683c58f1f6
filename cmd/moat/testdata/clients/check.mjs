// moat's client checks with ioredis (package.json), run by cmd/moat/clients_test.go.
// Usage: node check.mjs HOST PORT. Prints "ok NAME" or "FAIL NAME: why" for each check.
import net from "node:net";
import Redis from "ioredis";

const [host, port] = [process.argv[2], Number(process.argv[3])];
const client = () => new Redis({ host, port, maxRetriesPerRequest: 1, lazyConnect: false });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, what) {
  if (!cond) throw new Error(what);
}
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const checks = {
  async ping(r) {
    assert((await r.ping()) === "PONG", "PING");
  },
  async set_get(r) {
    assert((await r.set("js:k", "v")) === "OK", "SET");
    assert((await r.get("js:k")) === "v", "GET");
  },
  async pipeline(r) {
    await r.del("js:n");
    const p = r.pipeline();
    for (let i = 0; i < 100; i++) p.incr("js:n");
    const res = await p.exec();
    assert(res[99][1] === 100, `last INCR ${res[99]}`);
  },
  async big_value(r) {
    const v = "x".repeat(8 << 20);
    await r.set("js:big", v);
    assert((await r.get("js:big")) === v, "8 MB value differs");
  },
  async multi(r) {
    await r.del("js:m");
    const res = await r.multi().incr("js:m").incr("js:m").exec();
    assert(eq(res, [[null, 1], [null, 2]]), `EXEC ${JSON.stringify(res)}`);
  },
  async watch(r) {
    await r.set("js:w", "0");
    await r.watch("js:w");
    const o = client();
    await o.set("js:w", "other");
    o.disconnect();
    const res = await r.multi().set("js:w", "mine").exec();
    assert(res === null, `EXEC ran despite the WATCHed key's change: ${JSON.stringify(res)}`);
    assert((await r.get("js:w")) === "other", "value");
  },
  async scripting(r) {
    await r.set("js:s", "1");
    assert((await r.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "js:s", 4)) === 5, "EVAL");
    r.defineCommand("getit", { numberOfKeys: 1, lua: "return redis.call('get', KEYS[1])" });
    assert((await r.getit("js:s")) === "5", "EVALSHA via defineCommand");
  },
  async pubsub(r) {
    const got = [];
    r.on("message", (ch, m) => got.push(["message", m]));
    r.on("pmessage", (p, ch, m) => got.push(["pmessage", m]));
    await r.subscribe("js:ch");
    await r.psubscribe("js:c*");
    const o = client();
    await o.publish("js:ch", "hello");
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(100);
    o.disconnect();
    assert(eq(got.sort(), [["message", "hello"], ["pmessage", "hello"]]), JSON.stringify(got));
  },
  async blocking(r) {
    await r.del("js:q");
    const o = client();
    setTimeout(() => o.rpush("js:q", "job").then(() => o.disconnect()), 200);
    assert(eq(await r.blpop("js:q", 5), ["js:q", "job"]), "BLPOP");
    assert((await r.blpop("js:q", 1)) === null, "BLPOP timeout");
  },
  async hello3() {
    const reply = await new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => s.write("HELLO 3\r\n"));
      s.once("data", (d) => (s.end(), resolve(d.toString("latin1"))));
      s.once("error", reject);
    });
    assert(reply.startsWith("%") && reply.includes("proto\r\n:3\r\n"), JSON.stringify(reply));
  },
  async streams(r) {
    await r.del("js:x");
    const id = await r.xadd("js:x", "*", "f", "v");
    const res = await r.xread("STREAMS", "js:x", "0");
    assert(eq(res, [["js:x", [[id, ["f", "v"]]]]]), JSON.stringify(res));
  },
  async expiry(r) {
    await r.set("js:e", "v", "PX", 200);
    await sleep(400);
    assert((await r.get("js:e")) === null, "not expired");
  },
};

for (const [name, fn] of Object.entries(checks)) {
  const r = client();
  try {
    await fn(r);
    console.log("ok", name);
  } catch (e) {
    console.log("FAIL", `${name}:`, String(e && e.message).slice(0, 300));
  } finally {
    r.disconnect();
  }
}
