// The Worker entry: hands each request to the Rust `fetch` exported by wasm-bindgen.
import { DurableObject } from "cloudflare:workers";
import * as edge from "./index.js";
export default {
  fetch(request, env, ctx) { return edge.fetch(request, env, ctx); },
};
// The Durable Object that rate-limits trigger minting (binding PDM_MINT_LIMITER); its state
// and rule are in Rust (limiter.rs), called by RPC.
export class MintLimiter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.core = new edge.MintLimiterCore(env); }
  take() { return this.core.take(); }
}
