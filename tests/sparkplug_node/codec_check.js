// Eclipse Tahu's sparkplug-payload, used as the reference codec for ours:
//   node codec_check.js encode            -> prints a base64 payload holding every datatype Tahu has
//   node codec_check.js decode <base64>   -> prints the payload Tahu reads, as JSON
"use strict";
const sparkplug = require("sparkplug-payload").get("spBv1.0");

function sample() {
  return {
    timestamp: 1700000000000,
    seq: 7,
    metrics: [
      { name: "i8", type: "Int8", value: -100, alias: 1 },
      { name: "i16", type: "Int16", value: -30000, alias: 2 },
      { name: "i32", type: "Int32", value: -2000000000, alias: 3 },
      { name: "i64", type: "Int64", value: -9000000000, alias: 4 },
      { name: "u8", type: "UInt8", value: 200, alias: 5 },
      { name: "u16", type: "UInt16", value: 60000, alias: 6 },
      { name: "u32", type: "UInt32", value: 4000000000, alias: 7 },
      { name: "u64", type: "UInt64", value: 9000000000000, alias: 8 },
      { name: "f", type: "Float", value: 1.5, alias: 9, timestamp: 1700000000123 },
      { name: "d", type: "Double", value: 2.25, alias: 10 },
      { name: "b", type: "Boolean", value: true, alias: 11 },
      { name: "s", type: "String", value: "running", alias: 12 },
      { name: "dt", type: "DateTime", value: 1700000000000, alias: 13 },
      { name: "txt", type: "Text", value: "long text", alias: 14 },
      { name: "uuid", type: "UUID", value: "0e8b4a0c-7b7e-4c0a-9d2e-6f3c1e0b5a11", alias: 15 },
      { name: "bytes", type: "Bytes", value: new Uint8Array([1, 2, 255]), alias: 16 },
      { name: "null", type: "Double", value: null, isNull: true, alias: 17 },
      {
        name: "level", type: "Double", value: 42.5, alias: 18,
        properties: {
          engUnit: { type: "String", value: "ml" },
          engLow: { type: "Double", value: 0 },
          engHigh: { type: "Double", value: 750 },
          Quality: { type: "Int32", value: 192 },
        },
      },
      {
        name: "table", type: "DataSet", alias: 19,
        value: {
          numOfColumns: 2, columns: ["a", "b"], types: ["Int32", "String"],
          rows: [[1, "x"], [2, "y"]],
        },
      },
      {
        name: "udt", type: "Template", alias: 20,
        value: {
          version: "v1", templateRef: "Motor", isDefinition: false,
          metrics: [{ name: "rpm", type: "Double", value: 1450 }],
          parameters: [{ name: "poles", type: "Int32", value: 4 }],
        },
      },
    ],
  };
}

function plain(key, value) {
  if (value && value.constructor && value.constructor.name === "Long") return value.toString();
  if (value instanceof Uint8Array || Buffer.isBuffer(value)) return Array.from(value);
  return value;
}

if (process.argv[2] === "encode") {
  process.stdout.write(Buffer.from(sparkplug.encodePayload(sample())).toString("base64"));
} else if (process.argv[2] === "decode") {
  const decoded = sparkplug.decodePayload(Buffer.from(process.argv[3], "base64"));
  process.stdout.write(JSON.stringify(decoded, plain));
} else {
  process.stderr.write("usage: node codec_check.js encode | decode <base64>\n");
  process.exit(2);
}
