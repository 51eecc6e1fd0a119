// A Sparkplug B edge node built on Eclipse Tahu's sparkplug-client, driven line by line on stdin
// by the host-application tests (tests/ingest/test_sparkplug_host.py):
//   node edge_node.js <mqtt url> <group id> <edge node id>
// Each stdin line is a JSON command:
//   {"op": "births"}                        NBIRTH, then a DBIRTH of each device
//   {"op": "ddata", "device": D, "metrics": [{"alias": 1, "type": "Double", "value": 1.5, ...}]}
//   {"op": "ndata", "metrics": [...]}
//   {"op": "ddeath", "device": D}
//   {"op": "stop"}                          NDEATH, then disconnect (a clean stop)
//   {"op": "kill"}                          exit at once: the broker sends the NDEATH will
// It prints "connected" once connected, "sent <op>" after each command, "ncmd <json>" for each
// NCMD it receives, and answers a Node Control/Rebirth with its births, as edge nodes must;
// a DCMD it prints ("dcmd <device> <json>") and applies, reporting the value in a DDATA.
"use strict";
const readline = require("readline");
const sparkplug = require("sparkplug-client");

const [url, groupId, edgeNode] = process.argv.slice(2);
const client = sparkplug.newClient({
  serverUrl: url, groupId, edgeNode, clientId: `tahu-${edgeNode}-${process.pid}`,
  username: "", password: "", version: "spBv1.0", publishDeath: true, keepalive: 30,
});
const now = () => Date.now();

function nodeBirth() {
  return {
    timestamp: now(),
    metrics: [
      { name: "Node Control/Rebirth", type: "Boolean", value: false },
      { name: "Properties/Hardware", type: "String", value: "tahu-js", alias: 100 },
      { name: "Uptime", type: "Int64", value: 12, alias: 101 },
    ],
  };
}

function fillerBirth() {
  return {
    timestamp: now(),
    metrics: [
      {
        name: "Fill Level", alias: 1, type: "Double", value: 498.5,
        properties: {
          engUnit: { type: "String", value: "ml" },
          engLow: { type: "Double", value: 0 },
          engHigh: { type: "Double", value: 750 },
        },
      },
      { name: "Running", alias: 2, type: "Boolean", value: true },
      { name: "Count", alias: 3, type: "Int32", value: -3 },
      { name: "State", alias: 4, type: "String", value: "filling" },
      { name: "Valve/Position", alias: 5, type: "Float", value: 12.5 },
      { name: "Recipe", alias: 6, type: "DataSet",
        value: { numOfColumns: 1, columns: ["step"], types: ["Int32"], rows: [[1]] } },
    ],
  };
}

function births() {
  client.publishNodeBirth(nodeBirth());
  client.publishDeviceBirth("filler", fillerBirth());
}

function run(command) {
  switch (command.op) {
    case "births": births(); break;
    case "ddata":
      client.publishDeviceData(command.device, { timestamp: now(), metrics: command.metrics });
      break;
    case "ndata": client.publishNodeData({ timestamp: now(), metrics: command.metrics }); break;
    case "ddeath": client.publishDeviceDeath(command.device, { timestamp: now() }); break;
    case "stop": client.stop(); break;
    case "kill": process.exit(0); break;
    default: throw new Error(`unknown op ${command.op}`);
  }
  console.log(`sent ${command.op}`);
}

client.on("connect", () => console.log("connected"));
client.on("ncmd", (payload) => {
  console.log(`ncmd ${JSON.stringify(payload.metrics.map((m) => [m.name, m.value]))}`);
  if (payload.metrics.some((m) => m.name === "Node Control/Rebirth" && m.value === true)) {
    births();
    console.log("sent rebirth");
  }
});
client.on("dcmd", (device, payload) => {
  // A device applies the write and reports the value it now holds.
  console.log(`dcmd ${device} ${JSON.stringify(payload.metrics.map((m) => [m.name, m.value]))}`);
  const metrics = payload.metrics.map((m) => ({ alias: m.alias, type: m.type, value: m.value }));
  client.publishDeviceData(device, { timestamp: now(), metrics });
});
client.on("error", (error) => { console.error(`error ${error}`); process.exit(1); });
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim()) run(JSON.parse(line));
});
