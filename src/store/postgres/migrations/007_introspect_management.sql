-- Management tokens are shown to introspection callers only with this extra permission.
UPDATE api_servers
SET permissions = (permissions::jsonb || '[{"value":"tokens:introspect_management","description":"Introspect management tokens (audience urn:authz:management)"}]'::jsonb)::text,
    version = version + 1
WHERE id = 'as_management';
