-- The built-in management API server: the service protects its own management
-- API with tokens for this audience. It cannot be deleted and its identifier
-- cannot change (domain rule: `system`). Management tokens live one hour.
INSERT INTO api_servers (id, name, identifier, description, audiences, permissions, signing_alg, token_lifetime_seconds,
  token_dialect, enforce_policies, allow_offline_access, refresh_token_lifetime_seconds, skip_consent, dynamic_client_access,
  dynamic_client_scopes, system, create_time, update_time, version)
VALUES ('as_management', 'authz management API', 'urn:authz:management',
  'Built-in: tokens for this audience call the management API.', '[]',
  '[{"value":"api_servers:read","description":"Read API servers"},
         {"value":"api_servers:write","description":"Create, update and delete API servers"},
         {"value":"clients:read","description":"Read clients"},
         {"value":"clients:write","description":"Create, update, delete clients and rotate their secrets"},
         {"value":"grants:read","description":"Read grants"},
         {"value":"grants:write","description":"Create, update and delete grants"},
         {"value":"keys:read","description":"List signing keys"},
         {"value":"keys:write","description":"Rotate signing keys"},
         {"value":"tokens:introspect","description":"Introspect tokens of API servers the caller has access to"},
         {"value":"audit:read","description":"Read the audit log"}]',
  'ES256', 3600, 'access_token', 1, 0, 2592000, 0, 0, '[]', 1,
  (extract(epoch from clock_timestamp()) * 1000)::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint, 1);
INSERT INTO api_server_audiences (audience, api_server_id) VALUES ('urn:authz:management', 'as_management');
