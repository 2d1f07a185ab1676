import { Command, Flags, Errors, type Interfaces } from '@oclif/core';
import { isVoltError } from '@volt/sdk';
import { VoltApp } from '../app';
import type { Column, OutputFormat } from '../output/render';
import { listingText } from './net-list-view';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof VoltCommand)['baseFlags'] & T['flags']>;

/** Flags every command has. */
export abstract class VoltCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'Show stack traces and driver debug output.', helpGroup: 'GLOBAL' }),
    verbose: Flags.boolean({ char: 'v', description: 'Show notes, e.g. the config.yaml sections volt ignores.', helpGroup: 'GLOBAL' }),
  };

  private appInstance?: VoltApp;
  protected debugMode = false;
  protected verboseMode = false;

  protected get app(): VoltApp {
    this.appInstance ??= new VoltApp(this.config, {
      debug: this.debugMode,
      verbose: this.verboseMode,
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    return this.appInstance;
  }

  override async init(): Promise<void> {
    this.debugMode = this.argv.includes('--debug');
    this.verboseMode = this.argv.includes('-v') || this.argv.includes('--verbose');
    await super.init();
  }

  protected print(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Render a listing in the chosen format: a table of columns, or the full records. */
  protected printList<T>(format: OutputFormat, columns: Column<T>[], rows: T[], data: unknown = rows): void {
    this.print(listingText(format, columns, rows, data));
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (isVoltError(err)) {
      const lines = [`Error: ${err.message}`];
      for (const s of err.suggestions) lines.push(`  → ${s}`);
      if (this.debugMode && err.stack) lines.push(err.stack);
      process.stderr.write(lines.join('\n') + '\n');
      this.exit(err.exitCode);
    }
    if (err instanceof Errors.CLIError) return super.catch(err);
    const detail = this.debugMode && err.stack ? `\n${err.stack}` : '\n  → run again with --debug for the stack trace';
    process.stderr.write(`Error: internal: ${err.message}${detail}\n`);
    this.exit(1);
  }
}

export const outputFlag = (formats: OutputFormat[] = ['table', 'json', 'yaml']) =>
  Flags.option({
    char: 'o',
    description: 'Output format.',
    options: formats,
    default: formats[0]!,
  })();
