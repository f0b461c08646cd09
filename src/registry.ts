/**
 * Named extension points: one `Registry` per kind of thing a user can add
 * (heads, backbones, datasets, optimizers, CLI commands). A registry maps a
 * name to a spec; config validation, CLI help and error messages list the
 * registered names, so a new entry needs no edit anywhere else.
 * docs/design.md "Extension points" shows each registry with an example.
 */

/** What every registered spec has: a name and a one-line summary for help. */
export interface Named {
  readonly name: string;
  readonly summary: string;
}

export class Registry<Spec extends Named> {
  private readonly specs = new Map<string, Spec>();

  /** `what` names the kind in messages: 'head', 'backbone', 'dataset', … */
  constructor(readonly what: string, initial: readonly Spec[] = []) {
    for (const spec of initial) this.register(spec);
  }

  /**
   * Adds a spec. A name can be registered once; pass `{ replace: true }` to
   * swap an entry on purpose (e.g. a test's stand-in).
   */
  register(spec: Spec, options: { replace?: boolean } = {}): Spec {
    if (typeof spec.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(spec.name)) {
      throw new Error(`Registry(${this.what}).register: 'name' must be lower-case letters, digits and '-', starting with a letter, received ${JSON.stringify(spec.name)}`);
    }
    if (this.specs.has(spec.name) && options.replace !== true) {
      throw new Error(`Registry(${this.what}).register: '${spec.name}' is already registered (pass { replace: true } to replace it)`);
    }
    this.specs.set(spec.name, spec);
    return spec;
  }

  /** Removes an entry (tests that register a toy entry clean up with this). */
  unregister(name: string): boolean {
    return this.specs.delete(name);
  }

  has(name: unknown): boolean {
    return typeof name === 'string' && this.specs.has(name);
  }

  /** The spec of `name`; an unknown name is an error that lists the registered ones. `where` prefixes it. */
  get(name: unknown, where = `Registry(${this.what})`): Spec {
    const spec = typeof name === 'string' ? this.specs.get(name) : undefined;
    if (spec === undefined) {
      throw new Error(`${where}: unknown ${this.what} ${typeof name === 'string' ? `'${name}'` : JSON.stringify(name)} (registered: ${this.names().join(', ')})`);
    }
    return spec;
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.specs.keys()];
  }

  list(): Spec[] {
    return [...this.specs.values()];
  }
}
