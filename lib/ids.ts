// Id patterns shared by the wire contract, the registry and the API schemas.

/** Ids people choose (sites, gateways, homes…) are topic levels: lowercase, digits and dashes, no MQTT wildcards. */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
