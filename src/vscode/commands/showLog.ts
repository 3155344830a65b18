import type { Services } from './table';

export function showLogCommand(services: Services): void {
  services.logChannel.show();
}
