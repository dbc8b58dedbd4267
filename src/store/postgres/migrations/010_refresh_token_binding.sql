-- Refresh tokens bound as the access token issued with them was (RFC 9449 §5,
-- RFC 8705 §4): the DPoP key thumbprint (jkt) and the client certificate's
-- SHA-256 thumbprint (x5t#S256). A refresh must present the same; NULL: unbound.
ALTER TABLE refresh_tokens ADD COLUMN cnf_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN cnf_x5t TEXT;
