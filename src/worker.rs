//! Generation of the Cloudflare Worker shim and its `wrangler.toml`.
