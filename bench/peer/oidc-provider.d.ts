// Only what the peer script uses (the package ships no types).
declare module "oidc-provider" {
  const Provider: new (issuer: string, configuration: Record<string, unknown>) => { listen(port: number, host: string, cb: () => void): void };
  export default Provider;
}
