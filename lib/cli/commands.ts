// The CLI's command table: name, one-line summary, and the module that runs it.
export interface CommandModule {
  run(argv: string[]): Promise<number | void>;
}
export interface Command {
  summary: string;
  load(): Promise<CommandModule>;
}

export const commands: Record<string, Command> = {
  eval: { summary: 'score a TREC run against judgments (nDCG, MRR, recall, MAP, P)', load: () => import('./commands/eval.js') },
  info: { summary: 'what the native core runs on (CPU kernels, threads, CUDA)', load: () => import('./commands/info.js') },
};
