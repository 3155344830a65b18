import type { Services } from '../services';

export function refreshImagesCommand(services: Services): void {
  services.images.refresh();
}
