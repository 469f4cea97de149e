// The Worker entry: hands each request to the Rust `fetch` exported by wasm-bindgen.
import * as edge from "./index.js";
export default {
  fetch(request, env, ctx) { return edge.fetch(request, env, ctx); },
};
