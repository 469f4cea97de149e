// The Worker entry: hands each request to the Rust `fetch` exported by wasm-bindgen.
import * as edge from "./index.js";
export default {
  fetch(request, env, ctx) { return edge.fetch(request, env, ctx); },
};
// The Durable Object class that rate-limits trigger minting (binding PDM_MINT_LIMITER).
export { MintLimiter } from "./index.js";
