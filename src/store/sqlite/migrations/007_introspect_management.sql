-- Management tokens (audience urn:authz:management) are shown to introspection
-- callers only with this extra permission: tokens:introspect alone, which every
-- resource server holds, must not reveal an administrator's token and scopes.
UPDATE api_servers
SET permissions = json_insert(permissions, '$[#]', json('{"value":"tokens:introspect_management","description":"Introspect management tokens (audience urn:authz:management)"}')),
    version = version + 1
WHERE id = 'as_management';
