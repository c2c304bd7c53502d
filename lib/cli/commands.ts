// The CLI's command table: name, one-line summary, and the module that runs it.
export interface CommandModule {
  run(argv: string[]): Promise<number | void>;
}
export interface Command {
  summary: string;
  load(): Promise<CommandModule>;
}

export const commands: Record<string, Command> = {
  info: { summary: 'what the native core runs on (CPU kernels, threads, CUDA)', load: () => import('./commands/info.js') },
};
