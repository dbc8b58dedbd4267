-- Sender-constrained tokens (RFC 8705, RFC 9449). clients.binding is JSON:
-- the tls_client_auth value naming the client (RFC 8705 §2.1.2) and the
-- client's token-binding flags (tls_client_certificate_bound_access_tokens,
-- dpop_bound_access_tokens); {} for neither. api_servers.sender_constraint is
-- none, mtls or dpop: whether every token for it must be bound.
ALTER TABLE clients ADD COLUMN binding TEXT NOT NULL DEFAULT '{}';
ALTER TABLE api_servers ADD COLUMN sender_constraint TEXT NOT NULL DEFAULT 'none';
