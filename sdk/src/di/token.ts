/**
 * Typed injection tokens. A token is a registered symbol (Symbol.for), so a
 * plugin that carries its own copy of core or tsyringe still agrees on identity;
 * the phantom type parameter makes `resolve(token)` return the right contract.
 */
declare const contract: unique symbol;
export type Token<T> = symbol & { readonly [contract]?: T };

export function token<T>(key: string): Token<T> {
  return Symbol.for(key) as Token<T>;
}
