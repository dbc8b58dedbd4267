// Ceiling process: a minimal node:http server that reads a POSTed form body and
// answers a token-sized JSON document (~600 bytes, application/json,
// keep-alive), i.e. an HTTP token endpoint that does no work. Driven by wrk
// exactly as the authz HTTP gateway is.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { listenForBench } from "../lib/listen.js";
import { signingInput } from "../lib/token_shape.js";

// The shape and size of an authz token response: an ES256 RFC 9068 token
// (64-byte R || S signature) with the same claims.
const token = `${signingInput("ES256")}.${randomBytes(64).toString("base64url")}`;
const body = Buffer.from(JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 3600, scope: "orders:read" }));
const headers = { "content-type": "application/json", "content-length": String(body.length), "cache-control": "no-store" };

const server = createServer((req, res) => {
  let size = 0;
  req.on("data", (chunk: Buffer) => (size += chunk.length));
  req.on("end", () => {
    res.writeHead(req.method === "POST" && size > 0 ? 200 : 400, headers);
    res.end(body);
  });
});
listenForBench(server, ` body ${body.length}`);
