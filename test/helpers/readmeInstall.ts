/** The install commands README.md gives, which the manifest harness then runs as written. */
export interface ReadmeInstall {
  /** `docker build -t <image> .` */
  readonly image: string;
  /** `kind load docker-image <image>` */
  readonly kindLoaded: string;
  /** Every `kubectl apply -f <file>`, in README order. */
  readonly applied: readonly string[];
}

/** Reads the sh blocks of README's "## Installing on Kubernetes" section (up to the next "## "). */
export function readmeInstall(readme: string): ReadmeInstall {
  const section = /^## Installing on Kubernetes\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Installing on Kubernetes" section');
  const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n').map((l) => l.replace(/#.*/, '').trim())).filter((l) => l !== '');
  const one = (pattern: RegExp, what: string): string => {
    const hits = commands.flatMap((c) => pattern.exec(c)?.[1] ?? []);
    if (hits.length !== 1) throw new Error(`README's install section should have one ${what} command, has ${hits.length}`);
    return hits[0]!;
  };
  return {
    image: one(/^docker build -t (\S+) \.$/, 'docker build -t <image> .'),
    kindLoaded: one(/^kind load docker-image (\S+)$/, 'kind load docker-image'),
    applied: commands.flatMap((c) => /^kubectl apply -f (\S+)$/.exec(c)?.[1] ?? []),
  };
}
