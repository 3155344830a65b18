import type { Services } from '../services';

export function showLogCommand(services: Services): void {
  services.logChannel.show();
}
