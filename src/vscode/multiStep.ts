import * as vscode from 'vscode';

export const BACK = Symbol('back');
export type StepResult<T> = T | typeof BACK | undefined;

export interface PickStep<T> {
  kind: 'pick';
  title: string;
  placeholder: string;
  items: (vscode.QuickPickItem & { value: T })[];
}

export interface InputStep {
  kind: 'input';
  title: string;
  prompt: string;
  value: string;
  validate: (value: string) => string | undefined;
}

/** One QuickPick or InputBox step with a Back button from the second step on; undefined when dismissed. */
export function showStep<T>(step: PickStep<T> | InputStep, index: number, total: number): Promise<StepResult<T | string>> {
  return new Promise((resolve) => {
    const disposables: vscode.Disposable[] = [];
    const input =
      step.kind === 'pick' ? vscode.window.createQuickPick<vscode.QuickPickItem & { value: T }>() : vscode.window.createInputBox();
    input.title = step.title;
    input.step = index + 1;
    input.totalSteps = total;
    input.ignoreFocusOut = true;
    input.buttons = index > 0 ? [vscode.QuickInputButtons.Back] : [];
    let settled = false;
    const done = (result: StepResult<T | string>): void => {
      if (!settled) {
        settled = true;
        resolve(result);
        input.hide();
      }
    };
    disposables.push(
      input.onDidTriggerButton((b) => b === vscode.QuickInputButtons.Back && done(BACK)),
      input.onDidHide(() => {
        done(undefined);
        disposables.forEach((d) => d.dispose());
        input.dispose();
      }),
    );
    if (step.kind === 'pick') {
      const pick = input as vscode.QuickPick<vscode.QuickPickItem & { value: T }>;
      pick.placeholder = step.placeholder;
      pick.items = step.items;
      disposables.push(
        pick.onDidAccept(() => {
          const chosen = pick.selectedItems[0];
          if (chosen) done(chosen.value);
        }),
      );
    } else {
      const box = input as vscode.InputBox;
      box.prompt = step.prompt;
      box.value = step.value;
      disposables.push(
        box.onDidChangeValue((v) => (box.validationMessage = step.validate(v))),
        box.onDidAccept(() => {
          const message = step.validate(box.value);
          box.validationMessage = message;
          if (!message) done(box.value);
        }),
      );
    }
    input.show();
  });
}
