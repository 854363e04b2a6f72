//! JWT verification under the edgeward profile (DESIGN §4), JWKS parsing and claims typing.
